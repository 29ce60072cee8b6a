"""Training: data pipeline (`training.data`), the three stages of the paper, configs and callbacks."""
