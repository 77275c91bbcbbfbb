using Syllabus.Operator;
using Syllabus.Runtime.Hosting;
using Syllabus.Operator.DriftPolicies;
using Syllabus.Operator.LabelingQueues;
using Syllabus.Operator.ModelDeployments;
using Syllabus.Operator.TrainingRuns;

// Before anything serialises: under Native AOT, KubernetesClient's serialiser has only the source-generated metadata.
OperatorJson.Register();
var builder = OperatorHost.CreateBuilder(args);
builder.Services.AddTrainingRunControllers(builder.Configuration);
builder.Services.AddModelDeploymentController();
builder.Services.AddLabelingQueueController();
builder.Services.AddDriftPolicyController();

// Reconcilers register here, e.g.
// builder.Services.AddController<TrainingRun, TrainingRunReconciler>(c => c.Owns<V1Job>().Owns<V1ConfigMap>());
// With none registered the manager runs idle: leader election, probes and /metrics still work.
var app = builder.Build();
app.MapOperatorEndpoints();
return await app.RunOperatorAsync();
