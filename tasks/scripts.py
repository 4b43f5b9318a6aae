"""What every script's main() shares: bad input reported as one line, and absl start-up.

Imports no TensorFlow, so scripts that load it lazily stay quick to fail.
"""

import sys

from absl import app, flags, logging

from bert_tf.errors import USER_ERRORS


def run_or_exit(name, action):
    """`action()`; an error that means bad input ends the script as `name: error: ...`."""
    try:
        return action()
    except USER_ERRORS as e:
        sys.exit(f"{name}: error: {e}")


def start(main, required=()):
    """absl's app.run(main) with the required flags marked and warnings-only logging."""
    if required:
        flags.mark_flags_as_required(list(required))
    logging.set_verbosity(logging.WARNING)
    app.run(main)
