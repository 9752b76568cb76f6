from django.contrib import admin

from .models import (
    Chapter,
    Commune,
    GroupMembership,
    Household,
    HouseholdCategory,
    Office,
    OfficeMembership,
    Organisation,
    PreviousIdentity,
    SavingsGroup,
    Village,
)


class MembershipInline(admin.TabularInline):
    model = OfficeMembership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Office)
class OfficeAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "business_date", "business_date_held"]
    search_fields = ["code", "name"]
    inlines = [MembershipInline]


@admin.register(OfficeMembership)
class OfficeMembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "office", "role"]
    list_filter = ["office", "role"]
    autocomplete_fields = ["user"]


@admin.register(Commune)
class CommuneAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "kind", "office", "transaction_day", "valid_from", "valid_to"]
    list_filter = ["office", "kind"]
    search_fields = ["code", "name"]


@admin.register(Village)
class VillageAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "commune", "office"]
    list_filter = ["office"]
    search_fields = ["code", "name"]
    list_select_related = ["commune"]


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "name_en"]


@admin.register(Chapter)
class ChapterAdmin(admin.ModelAdmin):
    list_display = ["organisation", "commune", "office"]
    list_filter = ["office", "organisation"]
    list_select_related = ["organisation", "commune"]


@admin.register(SavingsGroup)
class SavingsGroupAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "village", "chapter", "head_name", "dissolved_on"]
    list_filter = ["office", "chapter__organisation"]
    search_fields = ["code", "name", "head_name"]
    list_select_related = ["village__commune", "chapter__organisation", "chapter__commune"]
    raw_id_fields = ["village", "chapter"]


class CategoryInline(admin.TabularInline):
    model = HouseholdCategory
    extra = 0
    raw_id_fields = ["recorded_by"]


class PreviousIdentityInline(admin.TabularInline):
    model = PreviousIdentity
    extra = 0


class GroupMembershipInline(admin.TabularInline):
    model = GroupMembership
    extra = 0
    raw_id_fields = ["group"]


@admin.register(Household)
class HouseholdAdmin(admin.ModelAdmin):
    list_display = ["full_name", "citizen_id", "date_of_birth", "village", "group", "status"]
    list_filter = ["office", "status"]
    search_fields = ["full_name", "citizen_id", "phone"]
    list_select_related = ["village__commune", "group"]
    raw_id_fields = ["village", "group"]
    inlines = [CategoryInline, PreviousIdentityInline, GroupMembershipInline]
