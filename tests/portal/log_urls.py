"""The portal's URLs and two of the tests' own (tests/portal/test_logs.py): a clinic page that logs what it was
sent, and one that fails with it, as careless code would."""

import logging

from django.http import HttpResponse
from django.urls import path

from portal import access
from portal.urls import urlpatterns as portal_urlpatterns

logger = logging.getLogger("tandportal.test")


@access.clinic_view()
def careless_log(request):
    logger.warning("sökte %s (%r)", request.POST.get("personnummer"), dict(request.POST))
    return HttpResponse("ok")


@access.clinic_view()
def careless_failure(request):
    raise ValueError(f"ingen patient {request.POST.get('personnummer')}")


urlpatterns = [
    *portal_urlpatterns,
    path("test-logg/klinik/<int:clinic_pk>/", careless_log),
    path("test-fel/klinik/<int:clinic_pk>/", careless_failure),
]
