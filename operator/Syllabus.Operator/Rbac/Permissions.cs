using Syllabus.Runtime.Rbac;

// What the controller runtime and the reconcilers use of the Kubernetes API. config/rbac/role.yaml and
// config/rbac/leader_election_role.yaml grant exactly this (a test compares them both ways), so add a
// declaration here when code starts using another resource or verb, and update the YAML with it.
// Declared at assembly level for now; move each next to its reconciler as they land.

// The five Syllabus kinds: informers (get/list/watch), finalizers added and removed by replacing the object
// (update), merge patches of annotations (patch). The operator never writes spec; the one delete it does
// (finished TrainingRuns past their TTL) is declared in TrainingRuns/TrainingRunPermissions.cs.
[assembly: RbacRule(Groups = ["syllabus.dev"], Resources = ["curricula", "modeldeployments", "driftpolicies", "labelingqueues"],
    Verbs = ["get", "list", "watch", "update", "patch"])]

// DriftPolicy and LabelingQueue retrains create TrainingRuns from their templates.
[assembly: RbacRule(Groups = ["syllabus.dev"], Resources = ["trainingruns"],
    Verbs = ["get", "list", "watch", "create", "update", "patch"])]

// Status is written once per reconcile through the status subresource.
[assembly: RbacRule(Groups = ["syllabus.dev"],
    Resources = ["curricula/status", "trainingruns/status", "modeldeployments/status", "driftpolicies/status", "labelingqueues/status"],
    Verbs = ["get", "update", "patch"])]

// Needed where the OwnerReferencesPermissionEnforcement admission plugin is on: setting blockOwnerDeletion
// on a child requires update on the owner's finalizers subresource.
[assembly: RbacRule(Groups = ["syllabus.dev"],
    Resources = ["curricula/finalizers", "trainingruns/finalizers", "modeldeployments/finalizers", "driftpolicies/finalizers", "labelingqueues/finalizers"],
    Verbs = ["update"])]

// TrainingRun and LabelingQueue scoring Jobs (trainer train / score), cleaned up after their TTL.
[assembly: RbacRule(Groups = ["batch"], Resources = ["jobs"], Verbs = ["get", "list", "watch", "create", "update", "patch", "delete"])]

// Trainer pods: progress scraped from their IPs, termination messages read; a stuck attempt's pod is deleted.
[assembly: RbacRule(Groups = [""], Resources = ["pods"], Verbs = ["get", "list", "watch", "delete"])]

// Resolved trainer specs (ConfigMaps) and the serving Services of ModelDeployments and the labelling UI.
[assembly: RbacRule(Groups = [""], Resources = ["configmaps", "services"], Verbs = ["get", "list", "watch", "create", "update", "patch", "delete"])]

// Stable and canary Deployments of the trainer's serve mode, and the labelling service.
[assembly: RbacRule(Groups = ["apps"], Resources = ["deployments"], Verbs = ["get", "list", "watch", "create", "update", "patch", "delete"])]

// Artifact volumes (pvc://CLAIM/path) are checked to exist, never created.
[assembly: RbacRule(Groups = [""], Resources = ["persistentvolumeclaims"], Verbs = ["get", "list", "watch"])]

// EventRecorder creates Events and patches the count of repeated ones.
[assembly: RbacRule(Groups = [""], Resources = ["events"], Verbs = ["create", "patch"])]

// Leader election: KubernetesClient's LeaseLock reads, creates and replaces one Lease in the operator's namespace.
[assembly: RbacRule(Groups = ["coordination.k8s.io"], Resources = ["leases"], Verbs = ["get", "create", "update"], Scope = RbacScope.OperatorNamespace)]
