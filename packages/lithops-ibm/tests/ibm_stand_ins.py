"""Constants shared by the lithops-ibm tests (a module with a unique name, importable from any test)."""

#: The API key the IAM stand-in accepts (and its account).
API_KEY = "lithops-test-api-key-0123456789"
ACCOUNT = "a1b2c3"
#: The Code Engine project, the runtime image the fake knows, and the bucket of the code_engine tests.
PROJECT = "lithops-tests"
IMAGE = "fake.icr.io/lithops/runtime:test"
BUCKET = "lithops-ce-tests"
