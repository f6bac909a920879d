from portal.validators import gs1_check_digit, luhn_check_digit


def application_data(region, **changes) -> dict:
    """A valid application as the form's cleaned data (numbers normalised, valid check digits)."""
    return {
        "region": region,
        "clinic_name": "Tandvården Nystad",
        "street_address": "Nygatan 5",
        "postal_code": "79130",
        "city": "Falun",
        "organisation_number": "556123456" + luhn_check_digit("556123456"),
        "gln": "735999000001" + gs1_check_digit("735999000001"),
        "hsa_id": "",
        "payment_method": "bankgiro",
        "account_number": "5551239",
        "payout_email": "ekonomi@nystad.test",
        "agreement_owner_name": "Anna Avtal",
        "agreement_owner_email": "anna@nystad.test",
        "local_admin_name": "Lars Lokal",
        "local_admin_email": "lars@nystad.test",
        **changes,
    }


def application_post(region, **changes) -> dict:
    """The same as the public form posts it, with numbers as people type them."""
    data = application_data(region, **changes)
    data["region"] = region.pk
    data["organisation_number"] = data["organisation_number"][:6] + "-" + data["organisation_number"][6:]
    data["account_number"] = "555-1239" if data["account_number"] == "5551239" else data["account_number"]
    return data
