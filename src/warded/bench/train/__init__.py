"""Training of the injection classifier (``make detector``). Not imported at run time.

Needs the ``train`` extra (scipy) and the pinned wheels in ``wheels.py``, read as zip files.
"""
