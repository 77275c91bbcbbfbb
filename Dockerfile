# syntax=docker/dockerfile:1
# The Syllabus operator (controller manager), compiled ahead of time (Native AOT): one native executable, no .NET
# runtime in the image.
#   docker build -t ghcr.io/syllabus-dev/syllabus-operator:v0.1.0 .
# Base images are pinned to exact .NET patch tags; bump them together with global.json. Native AOT compiles for the
# platform it builds on, so a multi-arch image builds each architecture on its own platform (no --platform=$BUILDPLATFORM).

ARG SDK_IMAGE=mcr.microsoft.com/dotnet/sdk:10.0.100-noble
ARG RUNTIME_IMAGE=mcr.microsoft.com/dotnet/runtime-deps:10.0.0-noble-chiseled

FROM ${SDK_IMAGE} AS build
# Native AOT links with the platform's C toolchain: clang and zlib's headers (Microsoft's Native AOT prerequisites).
RUN apt-get update \
 && apt-get install -y --no-install-recommends clang zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Restore first, from the project files only, so source edits do not invalidate the package layer.
COPY global.json Directory.Build.props Directory.Packages.props .editorconfig ./
COPY operator/Syllabus.Api/Syllabus.Api.csproj operator/Syllabus.Api/
COPY operator/Syllabus.Runtime/Syllabus.Runtime.csproj operator/Syllabus.Runtime/
COPY operator/Syllabus.Operator/Syllabus.Operator.csproj operator/Syllabus.Operator/
ARG TARGETARCH
RUN RID=linux-$( [ "$TARGETARCH" = "arm64" ] && echo arm64 || echo x64 ) \
 && echo "$RID" > /rid \
 && dotnet restore operator/Syllabus.Operator/Syllabus.Operator.csproj -r "$RID"
COPY operator/Syllabus.Api/ operator/Syllabus.Api/
COPY operator/Syllabus.Runtime/ operator/Syllabus.Runtime/
COPY operator/Syllabus.Operator/ operator/Syllabus.Operator/
# PublishAot is set in the project; the trim/AOT analysis runs here too and, as everywhere, its warnings are errors.
RUN dotnet publish operator/Syllabus.Operator/Syllabus.Operator.csproj \
      -c Release --no-restore -r "$(cat /rid)" -o /app \
 && rm -f /app/*.dbg /app/*.pdb /app/*.staticwebassets.endpoints.json

# runtime-deps, chiseled: only what a native .NET executable needs (libc, libssl, CA certificates; no ICU, as the
# operator runs with invariant globalization), no shell, no package manager, the non-root "app" user (1654).
FROM ${RUNTIME_IMAGE}
WORKDIR /app
COPY --from=build /app ./
USER 1654:1654
# /healthz, /readyz and /metrics (Operator:ProbePort).
EXPOSE 8080
ENTRYPOINT ["/app/Syllabus.Operator"]
