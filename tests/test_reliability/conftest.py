# The tiny photo folder of the tools' end-to-end test, shared.
from tests.test_tools.test_train_test_visualize import photos  # noqa: F401
