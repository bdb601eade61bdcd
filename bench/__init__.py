"""TumorBoard benchmarks (run by hand, not part of the test pass).

    python -m bench            # every benchmark, tables of medians on stdout
    python -m bench --json     # the same; tables on stderr, one JSON object on stdout
    python -m bench --only pipeline,attribution --repeats 3

See ``bench/README.md`` for what is measured, the goals and the recorded results.
"""
