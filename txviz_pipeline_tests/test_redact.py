from txviz_pipeline.redact import PERSONAL_FIELDS, REDACTED, card_last4, redacted, scrub


def test_redacted_drops_personal_fields_and_keeps_the_rest():
    record = {
        "row_id": 7,
        "cc_num": "4652123412341234",
        "first": "Ann",
        "last": "Lee",
        "street": "1 Main St",
        "dob": "1980-02-03",
        "trans_num": "a" * 32,
        "amt": -5.0,
        "merchant": "fraud_Kub",
    }
    out = redacted(record)
    assert not PERSONAL_FIELDS & out.keys()
    assert out == {
        "row_id": 7,
        "trans_num": "a" * 32,
        "amt": -5.0,
        "merchant": "fraud_Kub",
        "card_last4": "1234",
    }


def test_card_last4_only_for_card_numbers():
    assert card_last4(4652123412341234) == "1234"
    assert card_last4("123456789") is None  # too short to be a card
    assert card_last4("4652-1234-1234-1234") is None
    assert card_last4(None) is None
    assert card_last4(1.5) is None


def test_scrub_masks_card_numbers_out_of_place():
    assert scrub("paid with 4652 1234 1234 1234 at noon") == f"paid with {REDACTED} at noon"
    assert scrub("card 4652-1234-1234-1234") == f"card {REDACTED}"
    assert scrub("zip 28654, 2019-01-01 00:00:18") == "zip 28654, 2019-01-01 00:00:18"
    assert redacted({"merchant": "x 4652123412341234"})["merchant"] == f"x {REDACTED}"
