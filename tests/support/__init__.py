"""What the tests share: the checkout and its project.env, the local stack, the image, the real Tilt and helm,
the browser. Test modules import from here, never from one another or from conftest.py."""
