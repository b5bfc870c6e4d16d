"""The pipeline on the AWS emulator (moto), for the tests and the local simulation; never the deploy path."""
