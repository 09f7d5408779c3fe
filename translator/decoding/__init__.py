"""Text in, text out: decoding batches of sentences with a trained model, rare words from the
lexicon, BLEU and chrF.
"""
