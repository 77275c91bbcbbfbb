# syntax=docker/dockerfile:1
# The Syllabus operator (controller manager).
#   docker build -t ghcr.io/syllabus-dev/syllabus-operator:v0.1.0 .
# Base images are pinned to exact .NET patch tags; bump them together with global.json.

ARG SDK_IMAGE=mcr.microsoft.com/dotnet/sdk:10.0.100-noble
ARG RUNTIME_IMAGE=mcr.microsoft.com/dotnet/aspnet:10.0.0-noble-chiseled

FROM ${SDK_IMAGE} AS build
WORKDIR /src
# Restore first, from the project files only, so source edits do not invalidate the package layer.
COPY global.json Directory.Build.props Directory.Packages.props .editorconfig ./
COPY operator/Syllabus.Api/Syllabus.Api.csproj operator/Syllabus.Api/
COPY operator/Syllabus.Runtime/Syllabus.Runtime.csproj operator/Syllabus.Runtime/
COPY operator/Syllabus.Operator/Syllabus.Operator.csproj operator/Syllabus.Operator/
RUN dotnet restore operator/Syllabus.Operator/Syllabus.Operator.csproj
COPY operator/Syllabus.Api/ operator/Syllabus.Api/
COPY operator/Syllabus.Runtime/ operator/Syllabus.Runtime/
COPY operator/Syllabus.Operator/ operator/Syllabus.Operator/
RUN dotnet publish operator/Syllabus.Operator/Syllabus.Operator.csproj \
      -c Release --no-restore -o /app -p:UseAppHost=false

# Chiseled: no shell, no package manager, runs as the non-root "app" user (1654).
FROM ${RUNTIME_IMAGE}
WORKDIR /app
COPY --from=build /app ./
USER 1654:1654
# /healthz, /readyz and /metrics (Operator:ProbePort).
EXPOSE 8080
ENTRYPOINT ["dotnet", "Syllabus.Operator.dll"]
