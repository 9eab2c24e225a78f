"""Local MetaStudio simulator."""
