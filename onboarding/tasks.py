"""The e-mails of applications to join, sent after commit."""

from portal.background import email_task

from .models import ApplicationState, ClinicApplication


@email_task
def send_application_confirmation(application_id: int) -> None:
    from . import services

    application = ClinicApplication.objects.select_related("region").filter(pk=application_id).first()
    if application is None or application.state != ApplicationState.UNCONFIRMED:
        return
    services.application_confirmation_send(application=application)


@email_task
def send_application_to_region(application_id: int) -> None:
    from . import services

    application = ClinicApplication.objects.select_related("region").get(pk=application_id)
    services.application_region_notice_send(application=application)


@email_task
def send_application_rejection(application_id: int) -> None:
    from . import services

    application = ClinicApplication.objects.select_related("region").get(pk=application_id)
    services.application_rejection_send(application=application)
