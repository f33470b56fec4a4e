"""Networks: plain torch modules that map images to raw maps."""
