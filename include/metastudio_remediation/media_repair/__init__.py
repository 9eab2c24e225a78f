"""Media repair: fix what a machine can fix in a video that breaks a review rule, and say what changed.

* :func:`~.repair.repair_file`: remux (MOV/Matroska to MP4), trim (from a keyframe, audio in
  sync), downscale (H.264 at the nearest accepted size); refuses honestly otherwise.
* :mod:`.rules`: which finding each repair fixes (shared by the DAG's plan and the command).
* :mod:`.cli`: the ``metastudio-media`` command (``check`` and ``repair``).
* :mod:`.remediation`: the remediation DAG's use of it (a private work area, upload, report).

``docs/media.md`` ("Repairs") documents every repair and what is never repaired, and why.
"""
