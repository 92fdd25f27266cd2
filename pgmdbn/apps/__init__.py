"""Applications from the DBN literature built on trained models: document retrieval and
semantic hashing (``retrieval``), and Gaussian-process regression on DBN features (``gp``)."""
