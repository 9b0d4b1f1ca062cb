"""Hand-written reference implementations of the course's methods, each tested against its library.

Import the submodules explicitly, e.g. ``from course_utils.xai import lime``.
"""
