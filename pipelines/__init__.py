"""KFP v2 training pipelines of the platform, deployed per environment."""
