"""The Service Bus administration front: the Atom XML management protocol of ``ServiceBusAdministrationClient``
over HTTPS (a certificate from the process's local CA) and plain HTTP, translated onto the broker engine."""

from .application import NAMESPACE_NAME, AdminState, create_admin_app
from .descriptions import FieldStore

__all__ = ["NAMESPACE_NAME", "AdminState", "FieldStore", "create_admin_app"]
