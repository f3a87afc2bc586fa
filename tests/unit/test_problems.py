from api.problems import field_path


def test_field_paths_read_like_the_request_body() -> None:
    assert field_path(("body", "lines", 2, "sku")) == "lines[2].sku"
    assert field_path(("body", "currency")) == "currency"
    assert field_path(("query", "limit")) == "limit"
