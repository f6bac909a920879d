"""The demo's information letters: one per region, shown unread on its clinics' start pages."""

from django.urls import reverse

from regioninfo.models import Publication


def test_each_demo_region_has_one_information_letter_on_its_clinics_start_page(client, world):
    for region in (world.vg, world.dalarna):
        assert Publication.objects.of_region(region).filter(kind="letter").count() == 1
    client.force_login(world.admin31)
    page = client.get(reverse("clinic_start", kwargs={"clinic_pk": world.clinic31.pk})).content.decode()
    assert "Nytt från regionen" in page and "nya rutiner för förhandsbedömning" in page
    assert "fribeloppet för nästa år" not in page  # Dalarna's
