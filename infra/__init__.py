"""The CDK app of the RPM/RTM billing pipeline."""
