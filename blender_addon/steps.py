"""Work split into steps: a generator yields between pieces and returns its result, so the
timer can run one piece per tick (Blender's UI stays responsive) and scripts can run it all."""


def run_to_end(steps):
    """Drive a step generator to its end; its return value."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value
