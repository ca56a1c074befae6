"""Scripts that run inside the cluster as Jobs the program declares."""
