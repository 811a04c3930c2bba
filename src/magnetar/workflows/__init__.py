"""One folder per workflow: its config, steps, run functions, evaluation and CLI.

Each ``workflows/<name>/`` holds ``config.py`` (typed options, the only defaults),
``method.py`` (the method as a :class:`~magnetar.workflows._pipeline.Pipeline` of named
steps), ``run.py`` (``run_*``: files in, outputs out), ``evaluate.py`` (measured against a
truth) and ``cli.py`` (its sub-parser). Workflows compose the shared lower layers (``io``,
``processing``, ``synthetic``, ``models``, ``training``) and never import each other.
"""
