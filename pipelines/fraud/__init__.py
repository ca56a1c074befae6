"""Card-transaction fraud detection: data contract, generator, components and pipeline."""
