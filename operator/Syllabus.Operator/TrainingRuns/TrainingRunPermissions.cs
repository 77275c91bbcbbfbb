using Syllabus.Runtime.Rbac;

// ttlSecondsAfterFinished: the TrainingRun reconciler deletes a finished run once its TTL has passed (the only
// Syllabus object the operator deletes). Everything else it uses is declared in Rbac/Permissions.cs.
[assembly: RbacRule(Groups = ["syllabus.dev"], Resources = ["trainingruns"], Verbs = ["delete"])]
