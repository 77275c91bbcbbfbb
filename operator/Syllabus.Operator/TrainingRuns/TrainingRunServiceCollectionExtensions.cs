using k8s.Models;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Syllabus.Api;
using Syllabus.Operator.Curricula;
using Syllabus.Runtime;
using Syllabus.Runtime.Hosting;

namespace Syllabus.Operator.TrainingRuns;

public static class TrainingRunServiceCollectionExtensions
{
    /// <summary>
    /// The TrainingRun controller (owning its Jobs and ConfigMaps) and the Curriculum controller, with validated
    /// <see cref="TrainerImageOptions"/> from section "Trainer" and the HTTP progress scraper.
    /// </summary>
    public static IServiceCollection AddTrainingRunControllers(this IServiceCollection services, IConfiguration configuration)
    {
        OperatorJson.Register();
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptions<TrainerImageOptions>()
            .Bind(configuration.GetSection(TrainerImageOptions.SectionName))
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TrainerImageOptions>, TrainerImageOptionsAnnotationsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TrainerImageOptions>, TrainerImageOptionsValidator>());
        services.AddHttpClient<ITrainerMetricsScraper, HttpTrainerMetricsScraper>();
        services.TryAddSingleton<TrainingRunCaches>();
        services.AddController<TrainingRun, TrainingRunReconciler>(c => c
            .Owns<V1Job>()
            .Owns<V1ConfigMap>()
            .WithIndex<TrainingRun>(TrainingRunIndexes.Curriculum, TrainingRunIndexes.CurriculumOf)
            .WithIndex<TrainingRun>(TrainingRunIndexes.BaseRun, TrainingRunIndexes.BaseRunOf)
            .WithIndex<TrainingRun>(TrainingRunIndexes.TeacherRun, TrainingRunIndexes.TeacherRunOf)
            .WithIndex<TrainingRun>(TrainingRunIndexes.RunLabel, TrainingRunIndexes.RunLabelOf)
            .WithIndex<Curriculum>(TrainingRunIndexes.CurriculumTeacherRun, TrainingRunIndexes.TeacherRunOf)

            // Trainer pods belong to Jobs, not to the run: their changes reach the run through its label (and outlive the Job).
            .Watches<V1Pod>(TrainingRunIndexes.RunLabel, TrainingRunIndexes.RunLabelOf, managedOnly: true)

            // A Curriculum created or edited, or a base or teacher run that finished, wakes the runs waiting on it at once.
            .Watches<Curriculum>(TrainingRunIndexes.Curriculum, c => c.Metadata.Name, Predicates.GenerationOrMetadataChanged)
            .Watches<TrainingRun>(TrainingRunIndexes.BaseRun, r => r.Metadata.Name, DependencyOutcomeChanged)
            .Watches<TrainingRun>(TrainingRunIndexes.TeacherRun, r => r.Metadata.Name, DependencyOutcomeChanged)
            .Watches<TrainingRun>(RunsTaughtThroughCurricula, DependencyOutcomeChanged));
        services.AddController<Curriculum, CurriculumReconciler>(c => c
            .Watches<TrainingRun>(
                (run, _) => run.Spec.CurriculumRef is { } reference ? [new ObjectKey(run.Metadata.NamespaceProperty, reference.Name)] : [],
                Predicates.GenerationOrMetadataChanged));
        return services;
    }

    /// <summary>What a dependant acts on: the dependency's phase, its model, its spec.</summary>
    internal static bool DependencyOutcomeChanged(TrainingRun before, TrainingRun after) =>
        before.Status?.Phase != after.Status?.Phase
        || before.Status?.Result?.ModelUri != after.Status?.Result?.ModelUri
        || before.Metadata.Generation != after.Metadata.Generation
        || before.Metadata.DeletionTimestamp != after.Metadata.DeletionTimestamp;

    /// <summary>Runs whose referenced Curriculum names <paramref name="teacher"/> as its teacher.</summary>
    internal static IEnumerable<ObjectKey> RunsTaughtThroughCurricula(TrainingRun teacher, ICacheReaders caches)
    {
        var ns = teacher.Metadata.NamespaceProperty;
        return caches.For<Curriculum>().KeysByIndex(TrainingRunIndexes.CurriculumTeacherRun, teacher.Metadata.Name, ns)
            .SelectMany(curriculum => caches.For<TrainingRun>().KeysByIndex(TrainingRunIndexes.Curriculum, curriculum.Name, ns));
    }
}
