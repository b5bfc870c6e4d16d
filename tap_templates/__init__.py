"""CloudFormation for the tap pipeline: one template per region, composed from one module per component."""
