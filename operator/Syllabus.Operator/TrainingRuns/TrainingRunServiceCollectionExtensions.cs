using k8s.Models;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Syllabus.Api;
using Syllabus.Operator.Curricula;
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
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptions<TrainerImageOptions>()
            .Bind(configuration.GetSection(TrainerImageOptions.SectionName))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TrainerImageOptions>, TrainerImageOptionsValidator>());
        services.AddHttpClient<ITrainerMetricsScraper, HttpTrainerMetricsScraper>();
        services.AddController<TrainingRun, TrainingRunReconciler>(c => c.Owns<V1Job>().Owns<V1ConfigMap>());
        services.AddController<Curriculum, CurriculumReconciler>();
        return services;
    }
}
