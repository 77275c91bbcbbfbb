-- Argo CD health check for every Syllabus kind (syllabus.dev/v1alpha1).
-- One script, dispatching on obj.kind; config/argocd/kustomization.yaml installs it under
-- resource.customizations.health.syllabus.dev_<Kind> for each kind.
-- Written for Lua 5.1 (Argo CD's gopher-lua) and runs unchanged on 5.4 (the tests use NLua).
local hs = {}

local function condition(status, conditionType)
  if status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == conditionType then
      return c
    end
  end
  return nil
end

local function isTrue(status, conditionType)
  local c = condition(status, conditionType)
  return c ~= nil and c.status == "True", c
end

local function isFalse(status, conditionType)
  local c = condition(status, conditionType)
  return c ~= nil and c.status == "False", c
end

-- The condition's message, else its reason, else the fallback.
local function describe(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  if c ~= nil and c.reason ~= nil and c.reason ~= "" then
    return c.reason
  end
  return fallback
end

local function result(healthStatus, message)
  hs.status = healthStatus
  hs.message = message
  return hs
end

local function trainingRun(status)
  local phase = status.phase
  if phase == "Succeeded" then
    local gatesFailed, gates = isFalse(status, "GatesPassed")
    if gatesFailed then
      return result("Degraded", describe(gates, "Evaluation gates failed"))
    end
    return result("Healthy", describe(condition(status, "Completed"), "Training succeeded"))
  elseif phase == "Failed" then
    return result("Degraded", describe(condition(status, "Failed"), "Training failed"))
  elseif phase == "Suspended" then
    return result("Suspended", describe(condition(status, "Suspended"), "Training is suspended"))
  elseif phase == "Running" then
    return result("Progressing", describe(condition(status, "Running"), "Training is running"))
  elseif phase == "Pending" or phase == nil or phase == "" then
    return result("Progressing", describe(condition(status, "Scheduled"), "Waiting for the trainer to start"))
  end
  return result("Unknown", "Unrecognised phase " .. tostring(phase))
end

-- The condition's message only (empty messages skipped), for choosing between conditions.
local function messageOf(c)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return nil
end

-- Follows the operator's status: the phase decides, the conditions explain (see ModelDeploymentPlanner).
local function modelDeployment(status, obj)
  local phase = status.phase
  if phase == "Healthy" then
    local available, avail = isTrue(status, "Available")
    if available then
      return result("Healthy", describe(avail, "Serving"))
    end
    -- No replica on purpose is not a fault, as for a Deployment scaled to zero.
    if obj.spec ~= nil and obj.spec.replicas == 0 then
      return result("Healthy", "Scaled to zero replicas")
    end
    if avail ~= nil and avail.status == "False" then
      return result("Degraded", describe(avail, "No stable replica is available"))
    end
    return result("Progressing", "Waiting for the Available condition")
  elseif phase == "Degraded" then
    -- A rollback's message names both revisions; a Degraded=True with another reason (a pinned revision no longer
    -- kept, a failing stable model with nothing to return to) is the newer news.
    local degradedTrue, degraded = isTrue(status, "Degraded")
    local rolledBackTrue, rollback = isTrue(status, "RolledBack")
    if rolledBackTrue and (not degradedTrue or degraded.reason == rollback.reason) then
      return result("Degraded", describe(rollback, "Rolled back"))
    end
    if degradedTrue then
      return result("Degraded", describe(degraded, "The ModelDeployment is degraded"))
    end
    return result("Degraded", describe(rollback, "The ModelDeployment is degraded"))
  elseif phase == "Progressing" then
    -- Canary weight and analysis, a rollout, or an inconclusive analysis waiting for promote/abort.
    return result("Progressing", describe(condition(status, "Progressing"), "Rolling out"))
  elseif phase == "Pending" or phase == nil or phase == "" then
    local why = messageOf(condition(status, "Progressing")) or messageOf(condition(status, "Available"))
    return result("Progressing", why or "Waiting for a model to serve")
  end
  return result("Unknown", "Unrecognised phase " .. tostring(phase))
end

local function driftPolicy(status)
  local drifted, drift = isTrue(status, "Drifted")
  if drifted then
    return result("Degraded", describe(drift, "Drift detected"))
  end
  return result("Healthy", describe(condition(status, "Drifted"), "No drift detected"))
end

local function curriculum(status)
  return result("Healthy", describe(condition(status, "Valid"), "Valid"))
end

local function labelingQueue(status)
  local exhausted, budget = isTrue(status, "BudgetExhausted")
  if exhausted then
    return result("Healthy", describe(budget, "Labelling budget exhausted"))
  end
  -- A scored batch the labelling service could not import: its items are missing from the queue until it is fixed.
  local notImported, batches = isFalse(status, "BatchesImported")
  if notImported then
    return result("Degraded", describe(batches, "A scored batch could not be imported"))
  end
  local phase = status.phase
  if phase == "Exhausted" then
    return result("Healthy", "Labelling budget exhausted")
  elseif phase == "Scoring" then
    return result("Healthy", describe(condition(status, "Ready"), "Scoring the unlabelled pool"))
  elseif phase == "Labelling" then
    return result("Healthy", describe(condition(status, "Ready"), "Waiting for labels"))
  elseif phase == "Pending" or phase == nil or phase == "" then
    return result("Progressing", describe(condition(status, "Ready"), "Waiting for the first scoring round"))
  end
  return result("Unknown", "Unrecognised phase " .. tostring(phase))
end

local byKind = {
  TrainingRun = trainingRun,
  ModelDeployment = modelDeployment,
  DriftPolicy = driftPolicy,
  Curriculum = curriculum,
  LabelingQueue = labelingQueue,
}

local check = byKind[obj.kind]
if check == nil then
  return result("Unknown", "No health check for kind " .. tostring(obj.kind))
end

local status = obj.status
if status == nil or next(status) == nil then
  return result("Progressing", "Waiting for the operator to report status")
end

-- A status written for an older spec says nothing about the current one.
local generation = obj.metadata and obj.metadata.generation
local observed = status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  return result("Progressing", "Waiting for the operator to observe the latest spec (generation "
    .. string.format("%d", generation) .. ", observed " .. (observed == nil and "none" or string.format("%d", observed)) .. ")")
end

-- The operator reports specs it cannot act on as Valid=False, on every kind.
local invalid, validity = isFalse(status, "Valid")
-- A LabelingQueue whose committee members are still training waits for them: not a broken spec.
if invalid and validity.reason == "CommitteeTraining" then
  return result("Progressing", describe(validity, "Waiting for the committee's TrainingRuns"))
end
if invalid then
  return result("Degraded", describe(validity, "The spec is invalid"))
end

return check(status, obj)
