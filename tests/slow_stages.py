"""Run the CLI with every stage held for a moment after it starts, so a test can signal it mid-stage."""

import sys
import time

from transformers_export import cli, pipeline

_stage = pipeline._Stages.__call__


def _held_stage(self, name):
    context = _stage(self, name)

    class Held:
        def __enter__(self):
            result = context.__enter__()
            time.sleep(1.5)
            return result

        def __exit__(self, *exc):
            return context.__exit__(*exc)

    return Held()


pipeline._Stages.__call__ = _held_stage
sys.exit(cli.main(sys.argv[1:]))
