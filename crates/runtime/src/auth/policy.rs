//! Which roles may make each call: one table for every method of every
//! service, so what a role can do is read in one place and tested against
//! the contracts (a method missing here is refused to everyone).
//!
//! Data scope — a community's staff within their community, a worker with
//! their own records — is checked by the handlers that read or change
//! scoped records, with the [`super::Caller`] this layer attaches.

use super::Role::{self, *};

const ADMIN: &[Role] = &[CountyAdmin];
const ORGANISERS: &[Role] = &[CountyAdmin, IndustryCommittee];
const LOCAL: &[Role] = &[CountyAdmin, IndustryCommittee, CommunityStaff];
const LOOKUPS: &[Role] = &[CountyAdmin, IndustryCommittee, CommunityStaff, Service];
const REFERENCES: &[Role] = &[
    CountyAdmin,
    IndustryCommittee,
    CommunityStaff,
    DepartmentOfficer,
    Service,
];
const PEOPLE_READ: &[Role] = &[
    CountyAdmin,
    IndustryCommittee,
    CommunityStaff,
    Worker,
    Service,
];
const SELF_SERVICE: &[Role] = &[CountyAdmin, CommunityStaff, Worker];
const EXPORT: &[Role] = &[CountyAdmin, Worker, Service];
const STATION: &[Role] = &[CountyAdmin, CommunityStaff, Worker];
const SIGN: &[Role] = &[CountyAdmin, IndustryCommittee, CommunityStaff, Worker];
const POLICY_READ: &[Role] = &[
    CountyAdmin,
    IndustryCommittee,
    CommunityStaff,
    DepartmentOfficer,
];
const APPLY: &[Role] = &[CountyAdmin, IndustryCommittee, CommunityStaff, Worker];
const CANDIDATE_READ: &[Role] = &[CountyAdmin, IndustryCommittee, Worker];
const ATTENDANCE: &[Role] = &[CountyAdmin, IndustryCommittee, Service];
const POST: &[Role] = &[CountyAdmin, IndustryCommittee, Worker];
const POINT: &[Role] = &[
    CountyAdmin,
    CommunityStaff,
    DepartmentOfficer,
    GridWorker,
    Worker,
    Service,
];
/// A community's own work: its stations, its grid workers.
const COMMUNITY_OFFICE: &[Role] = &[CountyAdmin, CommunityStaff];
const GRID_APPLY: &[Role] = &[CountyAdmin, CommunityStaff, Worker];
const REPORT: &[Role] = &[CountyAdmin, CommunityStaff, GridWorker, Worker];
const CASE_WORK: &[Role] = &[
    CountyAdmin,
    CommunityStaff,
    DepartmentOfficer,
    GridWorker,
    Worker,
];
const RATE: &[Role] = &[CountyAdmin, GridWorker, Worker];
const POINTS: &[Role] = &[CountyAdmin, CommunityStaff, GridWorker, Worker];
const NOMINATE: &[Role] = &[CountyAdmin, IndustryCommittee, CommunityStaff];
const VOTE: &[Role] = &[
    CountyAdmin,
    IndustryCommittee,
    CommunityStaff,
    DepartmentOfficer,
    GridWorker,
    Worker,
    UnionLiaison,
    HrLiaison,
];
const SWEEP: &[Role] = &[CountyAdmin, Service];
const FILE_REQUEST: &[Role] = &[CountyAdmin, CommunityStaff, Worker];
const DEPARTMENT: &[Role] = &[CountyAdmin, DepartmentOfficer];
const RATE_REQUEST: &[Role] = &[CountyAdmin, Worker];
const REQUEST_READ: &[Role] = &[CountyAdmin, CommunityStaff, DepartmentOfficer, Worker];
const CADRE_WORK: &[Role] = &[CountyAdmin, IndustryCommittee, DepartmentOfficer];
const ACTIVITY_RUN: &[Role] = &[CountyAdmin, CommunityStaff, UnionLiaison];
const ACTIVITY_JOIN: &[Role] = &[CountyAdmin, CommunityStaff, Worker];
const HARDSHIP_APPLY: &[Role] = &[CountyAdmin, CommunityStaff, UnionLiaison, Worker];
const UNION: &[Role] = &[CountyAdmin, UnionLiaison];
const HAND_OUT: &[Role] = &[CountyAdmin, CommunityStaff, UnionLiaison];
const WISH_FILE: &[Role] = &[CountyAdmin, CommunityStaff, Worker];
const WISH_WORK: &[Role] = &[CountyAdmin, IndustryCommittee, CommunityStaff, Worker];
const UNION_IMPORT: &[Role] = &[CountyAdmin, UnionLiaison];
const HR_IMPORT: &[Role] = &[CountyAdmin, HrLiaison];
const FIND_BY_ID_NUMBER: &[Role] = &[CountyAdmin, UnionLiaison, HrLiaison];
const AGGREGATES: &[Role] = &[
    CountyAdmin,
    IndustryCommittee,
    CommunityStaff,
    DepartmentOfficer,
    UnionLiaison,
    HrLiaison,
    DashboardViewer,
    Service,
];

/// `(service, method, roles)`: every method of every service.
pub const POLICY: &[(&str, &str, &[Role])] = &[
    (
        "hongxin.organization.v1.OrganizationService",
        "RegisterIndustryCommittee",
        ADMIN,
    ),
    (
        "hongxin.organization.v1.OrganizationService",
        "SetCommitteeResponsibilities",
        ADMIN,
    ),
    (
        "hongxin.organization.v1.OrganizationService",
        "SetCommitteeMembers",
        ADMIN,
    ),
    (
        "hongxin.organization.v1.OrganizationService",
        "GetIndustryCommittee",
        LOOKUPS,
    ),
    (
        "hongxin.organization.v1.OrganizationService",
        "RegisterCommunity",
        ADMIN,
    ),
    (
        "hongxin.organization.v1.OrganizationService",
        "DesignateCommunityMember",
        ADMIN,
    ),
    (
        "hongxin.organization.v1.OrganizationService",
        "GetCommunity",
        LOOKUPS,
    ),
    (
        "hongxin.organization.v1.OrganizationService",
        "RegisterEnterprise",
        ORGANISERS,
    ),
    (
        "hongxin.organization.v1.OrganizationService",
        "ReportEnterpriseHeadcount",
        ORGANISERS,
    ),
    (
        "hongxin.organization.v1.OrganizationService",
        "GetEnterprise",
        LOOKUPS,
    ),
    (
        "hongxin.organization.v1.OrganizationService",
        "AssignPartyBuildingInstructor",
        ORGANISERS,
    ),
    (
        "hongxin.organization.v1.OrganizationService",
        "RegisterPerson",
        LOCAL,
    ),
    (
        "hongxin.organization.v1.OrganizationService",
        "ChangePersonWork",
        LOCAL,
    ),
    (
        "hongxin.organization.v1.OrganizationService",
        "ChangePersonContact",
        SELF_SERVICE,
    ),
    (
        "hongxin.organization.v1.OrganizationService",
        "SetPersonFlags",
        LOCAL,
    ),
    (
        "hongxin.organization.v1.OrganizationService",
        "RecordPartyStatus",
        SWEEP,
    ),
    (
        "hongxin.organization.v1.OrganizationService",
        "ErasePerson",
        ADMIN,
    ),
    (
        "hongxin.organization.v1.OrganizationService",
        "GetPerson",
        PEOPLE_READ,
    ),
    (
        "hongxin.organization.v1.OrganizationService",
        "ExportPersonalData",
        EXPORT,
    ),
    (
        "hongxin.organization.v1.OrganizationService",
        "CheckReferences",
        REFERENCES,
    ),
    (
        "hongxin.organization.v1.OrganizationService",
        "FoundPartyOrganization",
        ORGANISERS,
    ),
    (
        "hongxin.organization.v1.OrganizationService",
        "GetPartyOrganization",
        LOOKUPS,
    ),
    (
        "hongxin.organization.v1.OrganizationService",
        "OpenReportStation",
        COMMUNITY_OFFICE,
    ),
    (
        "hongxin.organization.v1.OrganizationService",
        "CheckInMobileMember",
        STATION,
    ),
    (
        "hongxin.organization.v1.OrganizationService",
        "RecordReportHome",
        STATION,
    ),
    (
        "hongxin.organization.v1.OrganizationService",
        "CheckOutMobileMember",
        STATION,
    ),
    (
        "hongxin.organization.v1.OrganizationService",
        "GetReportStation",
        COMMUNITY_OFFICE,
    ),
    (
        "hongxin.organization.v1.OrganizationService",
        "EstablishVanguardSite",
        LOCAL,
    ),
    (
        "hongxin.organization.v1.OrganizationService",
        "SignConvention",
        SIGN,
    ),
    (
        "hongxin.organization.v1.OrganizationService",
        "RecordVanguardShow",
        LOCAL,
    ),
    (
        "hongxin.organization.v1.OrganizationService",
        "IssuePolicyItem",
        ADMIN,
    ),
    (
        "hongxin.organization.v1.OrganizationService",
        "RetirePolicyItem",
        ADMIN,
    ),
    (
        "hongxin.organization.v1.OrganizationService",
        "GetPolicyItem",
        POLICY_READ,
    ),
    (
        "hongxin.organization.v1.OrganizationService",
        "RecordGovernanceDuty",
        ADMIN,
    ),
    (
        "hongxin.organization.v1.OrganizationService",
        "ListGovernanceDuties",
        ORGANISERS,
    ),
    (
        "hongxin.organization.v1.OrganizationService",
        "FindPersonByIdNumber",
        FIND_BY_ID_NUMBER,
    ),
    (
        "hongxin.organization.v1.OrganizationService",
        "ConfirmUnionMembership",
        UNION_IMPORT,
    ),
    (
        "hongxin.organization.v1.OrganizationService",
        "RecordEmploymentRegistration",
        HR_IMPORT,
    ),
    (
        "hongxin.organization.v1.OrganizationService",
        "RecordInjuryProtection",
        HR_IMPORT,
    ),
    (
        "hongxin.organization.v1.OrganizationService",
        "RecordInjuryClaim",
        HR_IMPORT,
    ),
    (
        "hongxin.organization.v1.OrganizationService",
        "RecordTrainingSubsidy",
        HR_IMPORT,
    ),
    (
        "hongxin.organization.v1.OrganizationService",
        "ApplyToJoinUnion",
        SELF_SERVICE,
    ),
    (
        "hongxin.organization.v1.OrganizationService",
        "FileEmploymentRegistration",
        SELF_SERVICE,
    ),
    (
        "hongxin.organization.v1.OrganizationService",
        "ReportAccident",
        SELF_SERVICE,
    ),
    ("hongxin.pipeline.v1.PipelineService", "Apply", APPLY),
    (
        "hongxin.pipeline.v1.PipelineService",
        "RecordStep",
        ORGANISERS,
    ),
    (
        "hongxin.pipeline.v1.PipelineService",
        "GetCandidate",
        CANDIDATE_READ,
    ),
    ("hongxin.pipeline.v1.PipelineService", "ListDue", ORGANISERS),
    ("hongxin.pipeline.v1.PipelineService", "ListRuleSets", LOCAL),
    (
        "hongxin.pipeline.v1.PipelineService",
        "StartPair",
        ORGANISERS,
    ),
    (
        "hongxin.pipeline.v1.PipelineService",
        "NotePair",
        ORGANISERS,
    ),
    ("hongxin.pipeline.v1.PipelineService", "EndPair", ORGANISERS),
    (
        "hongxin.pipeline.v1.PipelineService",
        "ScheduleTrainingSession",
        ORGANISERS,
    ),
    (
        "hongxin.pipeline.v1.PipelineService",
        "RecordTrainingAttendance",
        ATTENDANCE,
    ),
    (
        "hongxin.pipeline.v1.PipelineService",
        "IssueTrainingCertificate",
        ORGANISERS,
    ),
    (
        "hongxin.pipeline.v1.PipelineService",
        "SchedulePartyDay",
        ORGANISERS,
    ),
    (
        "hongxin.pipeline.v1.PipelineService",
        "RecordPartyDay",
        ORGANISERS,
    ),
    ("hongxin.pipeline.v1.PipelineService", "PublishPost", POST),
    ("hongxin.grid.v1.GridService", "DefineGrid", ADMIN),
    ("hongxin.grid.v1.GridService", "ResolvePoint", POINT),
    (
        "hongxin.grid.v1.GridService",
        "ApplyAsGridWorker",
        GRID_APPLY,
    ),
    (
        "hongxin.grid.v1.GridService",
        "VetGridWorker",
        COMMUNITY_OFFICE,
    ),
    (
        "hongxin.grid.v1.GridService",
        "AppointGridWorker",
        COMMUNITY_OFFICE,
    ),
    (
        "hongxin.grid.v1.GridService",
        "DismissGridWorker",
        COMMUNITY_OFFICE,
    ),
    ("hongxin.grid.v1.GridService", "DefineCaseCategory", ADMIN),
    ("hongxin.grid.v1.GridService", "ReportCase", REPORT),
    ("hongxin.grid.v1.GridService", "ActOnCase", CASE_WORK),
    ("hongxin.grid.v1.GridService", "FollowCase", REPORT),
    ("hongxin.grid.v1.GridService", "RateCase", RATE),
    ("hongxin.grid.v1.GridService", "GetCase", CASE_WORK),
    ("hongxin.grid.v1.GridService", "UploadPhoto", CASE_WORK),
    ("hongxin.grid.v1.GridService", "GetPhoto", CASE_WORK),
    ("hongxin.grid.v1.GridService", "GetPoints", POINTS),
    ("hongxin.grid.v1.GridService", "OpenRecognition", ADMIN),
    ("hongxin.grid.v1.GridService", "NominateCandidate", NOMINATE),
    ("hongxin.grid.v1.GridService", "ReviewCandidate", ADMIN),
    ("hongxin.grid.v1.GridService", "OpenVoting", ADMIN),
    ("hongxin.grid.v1.GridService", "Vote", VOTE),
    ("hongxin.grid.v1.GridService", "CloseRecognition", ADMIN),
    ("hongxin.grid.v1.GridService", "EscalateOverdue", SWEEP),
    ("hongxin.care.v1.CareService", "DefineCatalogueItem", ADMIN),
    ("hongxin.care.v1.CareService", "RetireCatalogueItem", ADMIN),
    (
        "hongxin.care.v1.CareService",
        "FileServiceRequest",
        FILE_REQUEST,
    ),
    (
        "hongxin.care.v1.CareService",
        "ProgressServiceRequest",
        DEPARTMENT,
    ),
    (
        "hongxin.care.v1.CareService",
        "RateServiceRequest",
        RATE_REQUEST,
    ),
    (
        "hongxin.care.v1.CareService",
        "GetServiceRequest",
        REQUEST_READ,
    ),
    ("hongxin.care.v1.CareService", "PostCadre", ADMIN),
    ("hongxin.care.v1.CareService", "EndCadrePosting", ADMIN),
    (
        "hongxin.care.v1.CareService",
        "RaiseEnterpriseProblem",
        CADRE_WORK,
    ),
    (
        "hongxin.care.v1.CareService",
        "ProgressEnterpriseProblem",
        CADRE_WORK,
    ),
    (
        "hongxin.care.v1.CareService",
        "ListCadreProblems",
        CADRE_WORK,
    ),
    ("hongxin.care.v1.CareService", "PlanActivity", ACTIVITY_RUN),
    (
        "hongxin.care.v1.CareService",
        "RegisterForActivity",
        ACTIVITY_JOIN,
    ),
    (
        "hongxin.care.v1.CareService",
        "WithdrawFromActivity",
        ACTIVITY_JOIN,
    ),
    (
        "hongxin.care.v1.CareService",
        "CheckInToActivity",
        ACTIVITY_RUN,
    ),
    (
        "hongxin.care.v1.CareService",
        "CancelActivity",
        ACTIVITY_RUN,
    ),
    (
        "hongxin.care.v1.CareService",
        "ApplyForHardship",
        HARDSHIP_APPLY,
    ),
    ("hongxin.care.v1.CareService", "RecordHardshipStep", UNION),
    ("hongxin.care.v1.CareService", "GiveHardshipSupport", UNION),
    ("hongxin.care.v1.CareService", "GetHardshipCase", UNION),
    (
        "hongxin.care.v1.CareService",
        "RecordHardshipUnionStatus",
        UNION,
    ),
    ("hongxin.care.v1.CareService", "OpenCampaign", UNION),
    ("hongxin.care.v1.CareService", "StockCampaign", UNION),
    ("hongxin.care.v1.CareService", "HandOutSupplies", HAND_OUT),
    ("hongxin.care.v1.CareService", "FileMicroWish", WISH_FILE),
    ("hongxin.care.v1.CareService", "ClaimMicroWish", WISH_WORK),
    ("hongxin.care.v1.CareService", "ReleaseMicroWish", WISH_WORK),
    ("hongxin.care.v1.CareService", "FulfilMicroWish", WISH_WORK),
    ("hongxin.care.v1.CareService", "GetMicroWish", WISH_WORK),
    (
        "hongxin.integration.v1.IntegrationService",
        "CreateSubscription",
        ADMIN,
    ),
    (
        "hongxin.integration.v1.IntegrationService",
        "GetSubscription",
        ADMIN,
    ),
    (
        "hongxin.integration.v1.IntegrationService",
        "ListSubscriptions",
        ADMIN,
    ),
    (
        "hongxin.integration.v1.IntegrationService",
        "RotateSigningKey",
        ADMIN,
    ),
    (
        "hongxin.integration.v1.IntegrationService",
        "PauseSubscription",
        ADMIN,
    ),
    (
        "hongxin.integration.v1.IntegrationService",
        "ResumeSubscription",
        ADMIN,
    ),
    (
        "hongxin.integration.v1.IntegrationService",
        "ListDeadLetters",
        ADMIN,
    ),
    (
        "hongxin.integration.v1.IntegrationService",
        "ReplayDeadLetter",
        ADMIN,
    ),
    (
        "hongxin.integration.v1.IntegrationService",
        "DiscardDeadLetter",
        ADMIN,
    ),
    (
        "hongxin.dashboard.v1.DashboardService",
        "GetOverview",
        AGGREGATES,
    ),
    (
        "hongxin.dashboard.v1.DashboardService",
        "ListTables",
        AGGREGATES,
    ),
    (
        "hongxin.dashboard.v1.DashboardService",
        "GetTable",
        AGGREGATES,
    ),
    (
        "hongxin.dashboard.v1.DashboardService",
        "GetFreshness",
        AGGREGATES,
    ),
    (
        "hongxin.dashboard.v1.DashboardService",
        "WatchFreshness",
        AGGREGATES,
    ),
    (
        "hongxin.dashboard.v1.DashboardService",
        "RebuildReadModels",
        ADMIN,
    ),
    ("hongxin.dashboard.v1.DashboardService", "QueryAudit", ADMIN),
];

/// Health checks and reflection answer anyone.
pub fn is_open(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.Health/")
        || path.starts_with("/grpc.reflection.v1.ServerReflection/")
        || path.starts_with("/grpc.reflection.v1alpha.ServerReflection/")
}

/// The roles that may call `/<service>/<method>`; `None` for a method the
/// table does not name.
pub fn roles_for(path: &str) -> Option<&'static [Role]> {
    let (service, method) = path.strip_prefix('/')?.split_once('/')?;
    POLICY
        .iter()
        .find(|(s, m, _)| *s == service && *m == method)
        .map(|(_, _, roles)| *roles)
}
