from borrowers.models import Household
from branch_portal.pagination import deferred_join

from .factories import GroupFactory, HouseholdFactory


def test_deferred_join_pages_equal_plain_pages(office_a, django_assert_num_queries):
    group = GroupFactory(village__commune__office=office_a)
    for name in ["An", "Bình", "Cúc", "Dũng", "Én", "Giang", "Hà"]:
        HouseholdFactory(group=group, full_name=f"Nguyễn Văn {name}")
    plain = Household.objects.select_related("village").order_by("search_name", "id")
    deferred = deferred_join(plain)
    assert [h.pk for h in deferred[2:5]] == [h.pk for h in plain[2:5]]
    assert [h.pk for h in deferred[0:3]] == [h.pk for h in plain[0:3]]
    for start in (0, 3):  # the first page too: a filtered walk must not fetch rejected rows
        expected = [h.pk for h in plain[start : start + 3]]
        with django_assert_num_queries(2):  # ids of the page, then its rows with their joins
            page = deferred.filter(full_name__startswith="Nguyễn")[start : start + 3]
            assert [h.pk for h in page] == expected and all(h.village.name for h in page)
    with django_assert_num_queries(1):  # a page past the end costs no second query
        assert deferred[100:103] == []
