SIZE = 60  # the size every test in this package runs the sandbox at (acme; globex gets a quarter)
