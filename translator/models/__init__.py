"""The Keras model: embeddings, the GRU encoder, the attention decoder, in-graph greedy and beam
search over a shortlist, loss and optimizer.
"""
