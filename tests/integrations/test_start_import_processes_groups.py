"""StartImportProcesses with an xmlDoc creates the processes of all its lists or of none."""

from integrations.models import Import
from lists.models import Recipient
from tests.integrations.test_wsmailupimport_operations import call, magento_doc, return_code
from tests.personas import demo_list


def test_group_of_first_list_only_creates_no_process(demo):
    group = demo_list(1).groups.first()

    document = call(
        "StartImportProcesses",
        listsIDs="1;2",
        listsGUIDs="",
        xmlDoc=magento_doc("anna@example.com"),
        groupsIDs=str(group.pk),
        importType=1,
    )

    assert return_code(document) == -400
    assert not Import.objects.exists()
    assert not Recipient.objects.exists()
