"""The ML platform's Pulumi program: settings, components and the offline harness."""
