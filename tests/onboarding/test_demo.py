from onboarding.models import ApplicationState, ClinicApplication


def test_the_demo_has_one_open_application_in_dalarna(world):
    application = ClinicApplication.objects.of_region(world.dalarna).get()
    assert application.state == ApplicationState.CONFIRMED
    assert application.clinic_name == "Tandhälsan i Demoberg"
    assert not ClinicApplication.objects.of_region(world.vg).exists()
