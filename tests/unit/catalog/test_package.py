import inspect

import quotaflow.catalog


def test_every_public_function_and_class_is_documented():
    for name in quotaflow.catalog.__all__:
        member = getattr(quotaflow.catalog, name)
        if inspect.isfunction(member) or inspect.isclass(member):
            assert member.__doc__, name


def test_all_lists_every_public_member():
    public = {
        name
        for name, value in vars(quotaflow.catalog).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("quotaflow")
    }
    assert public <= set(quotaflow.catalog.__all__)
