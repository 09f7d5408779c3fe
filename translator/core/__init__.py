"""What every stage stands on: errors, atomic files, failpoints, the config, the per-language
rules and the Keras backend.
"""
