"""What people look at and deploy: heatmaps, the alignment page, the HTTP service and the
SavedModel export.
"""
