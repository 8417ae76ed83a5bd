"""The pure core: masks, pruners as optax transformations, the cooperative step."""
