"""One run's life around ``trainer.fit`` (``ssgen.train`` tells the story; the detail lives here).

    build.py      the model, callbacks, logger and Trainer of a config; process-wide settings (threads, $SSGEN_DATA)
    lifecycle.py  relaunches, resumes, the precision a launch settles, Hydra's pre-flight checks and job wrapper
    stops.py      SIGTERM / Ctrl-C anywhere in a run or between sweep jobs
    audit.py      the end-of-run audit before ``ok``, the resume checks
    results.py    results.json: its schema, reading and writing it, statuses, the objective, the summary
"""
