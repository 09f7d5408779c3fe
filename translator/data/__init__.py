"""From a corpus file to batches: cleaning and tokenization, the split, vocabularies, the tf.data
pipeline, downloads and statistics.
"""
