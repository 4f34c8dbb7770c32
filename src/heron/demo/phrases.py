"""What users and the assistant say around the answers: non-answers, refusals, wrong answers,
clarifying questions, and the users' reactions to them (retries, rephrases, disagreement,
frustration) and to good answers (follow-ups, thanks).

Plain data, keyed by topic name (:data:`heron.demo.content.TOPICS`). ``{slots}`` are filled
per session like the questions. Some reactions are chosen to trip naive detectors: "Great,
thanks!!" and "no worries" are not frustration, a follow-up on the same topic is not a
rephrase, and many rephrases share no word with the question they replace.
"""

from __future__ import annotations

# Rephrasings that share no content word with the intent's other paraphrases (a user who
# was not understood tries different words), by the intent's first paraphrase.
DISTANT_PARAPHRASES: dict[str, str] = {
    "Why was I charged twice for my Pro plan this month? Invoice {invoice}.": (
        "My bank shows that amount debited a second time."
    ),
    "My invoice {invoice} is higher than my plan price. What happened?": (
        "The bill went up although nothing changed on our side."
    ),
    "Do you offer a discount for annual billing?": "Any savings if we commit for a year?",
    "I can't log in, it says my password is incorrect even after resetting it.": (
        "Signing in keeps failing with the new credentials I just chose."
    ),
    "Password reset emails never arrive for {email}.": (
        "Nothing shows up in my mailbox after clicking 'forgot'."
    ),
    "My account got locked after too many login attempts. How do I unlock it?": (
        "I'm blocked out after typing wrong a few times, when can I get back in?"
    ),
    "We keep getting HTTP 429 from /v2/events at about {n} requests per minute. "
    "What's our limit?": "Our ingestion gets throttled, how much traffic may we send?",
    "Can you raise the API rate limit for our nightly sync?": (
        "We need more throughput for a one-off bulk load."
    ),
    "How do I export all my project data to {fmt}?": (
        "I'd like a full copy of our events as files."
    ),
    "My export to {fmt} has been stuck at 'processing' for {hours} hours.": (
        "The download I requested this morning is still not ready."
    ),
    "Can I schedule a weekly export to our S3 bucket?": (
        "Is there something that dumps everything into cloud storage automatically?"
    ),
    "How do I set up SAML SSO with {idp}?": (
        "Our IT wants everyone signing in through the company directory."
    ),
    "After enabling SSO with {idp}, new users get 'user not provisioned'.": (
        "Colleagues who joined recently are refused at sign-in."
    ),
    "Webhooks to our endpoint fail with a signature mismatch.": (
        "Our receiver says the checksum header on your callbacks is invalid."
    ),
    "How do I retry failed webhook deliveries?": (
        "A few callbacks got lost during our outage yesterday, can we get those once more?"
    ),
    "How do I remove a user who left the company?": (
        "Someone quit, how do I take away their access?"
    ),
    "I'm an admin but the 'Invite members' button is greyed out.": (
        "Adding colleagues to our workspace isn't possible, nothing happens on click."
    ),
}

# What the user prefixes a rephrase with ("" most often: just the new wording).
REPHRASE_PREFIXES = (
    "",
    "",
    "",
    "That didn't answer my question. ",
    "Sorry, let me rephrase: ",
    "No, I mean: ",
    "Let me try again. ",
)

# The assistant could not answer (outcome "non_answer"), by prompt version: v4 is told to
# say so in one sentence, v3 explains at length. Both end with a question.
NON_ANSWERS = {
    3: (
        "Thanks for reaching out! I looked through the help-center articles I have access to, "
        "but unfortunately none of them seem to cover this specific situation. There can be "
        "several reasons for this kind of issue, and it may depend on your workspace "
        "configuration. Could you describe the problem in more detail, or would you like me "
        "to open a support ticket? Acme Assist"
    ),
    4: (
        "The help-center articles don't cover this. Do you want me to open a ticket?",
        "I couldn't find an answer to that in our documentation. Shall I open a ticket?",
    ),
}

# Output guardrail false positives (outcome "refusal"; releases from v1.5.0).
REFUSALS = (
    "I'm sorry, but I can't help with that request.",
    "I can't share that information. Please contact support@acme.cloud.",
)

# A wrong answer per topic (outcome "wrong") and what users answer to it (disagreement).
WRONG_ANSWERS: dict[str, str] = {
    "billing": (
        "Overage and duplicate charges are covered by a flat 5% service fee, so the "
        "difference on your invoice is expected. No action is needed."
    ),
    "login": (
        "Your password was reset successfully, so you can sign in with it right away. If it "
        "fails, clear your browser cache."
    ),
    "rate-limits": (
        "The {plan} plan allows 5,000 requests per minute, so 429 responses must come from "
        "your own proxy."
    ),
    "export": (
        "Exports to {fmt} are only available on the Enterprise plan. Please upgrade to continue."
    ),
    "sso": (
        "{idp} is not supported. Acme Cloud only works with Google Workspace for single sign-on."
    ),
    "webhooks": (
        "Signatures are computed over the JSON body after sorting its keys, so re-serialize "
        "the payload before computing the HMAC."
    ),
    "team": ("Only the workspace owner can do that; admins cannot manage members. Ask your owner."),
}
DISAGREEMENTS: dict[str, tuple[str, ...]] = {
    "billing": (
        "That's wrong, the fee is $2 per 100k events, it says so on your pricing page.",
        "No, there is no 5% fee in our contract.",
    ),
    "login": (
        "That's not right, the reset worked but login still fails.",
        "I already cleared the cache, that didn't work.",
    ),
    "rate-limits": (
        "That's wrong, your docs say Pro is 600 rpm, not 5,000.",
        "We don't use a proxy, the 429s come straight from api.acme.cloud.",
    ),
    "export": (
        "That's not true, we exported {fmt} last month on the same plan.",
        "Wrong, your help center says exports are on every plan.",
    ),
    "sso": (
        "That's incorrect, your docs list {idp} as supported.",
        "No, {idp} is on your list of identity providers.",
    ),
    "webhooks": (
        "That didn't work, the signature still doesn't match.",
        "I don't think that's right, re-serializing changes the bytes.",
    ),
    "team": (
        "That's wrong, I'm an admin and the docs say admins can do this.",
        "No, our owner is on leave and admins should be able to.",
    ),
}
GENERIC_DISAGREEMENTS = (
    "That didn't work.",
    "I did exactly that and it still fails.",
    "That's not correct.",
    "nope, still the same problem",
)
CORRECTION_PREFIX = "You're right, I'm sorry for the confusion. "

# The assistant asks before answering (outcome "clarify"), and what users reply.
CLARIFY_QUESTIONS: dict[str, str] = {
    "billing": "Which invoice do you mean? Please send me the invoice number.",
    "login": "Which email address do you sign in with?",
    "rate-limits": "Which endpoint are you calling, and roughly how many requests a minute?",
    "export": "Which format did you choose for the export?",
    "sso": "Which identity provider does your company use?",
    "webhooks": "Are the failing deliveries going to a single endpoint, or to several?",
    "team": "Are you an admin or the owner of the workspace?",
}
CLARIFY_REPLIES: dict[str, tuple[str, ...]] = {
    "billing": ("{invoice}", "It's {invoice}, from {month}."),
    "login": ("{email}", "i use {email}"),
    "rate-limits": ("/v2/events, about {n} per minute", "The events endpoint, ~{n} rpm."),
    "export": ("{fmt}", "{fmt}, the full history"),
    "sso": ("{idp}", "We're on {idp}."),
    "webhooks": ("Just one endpoint.", "one, our production receiver"),
    "team": ("I'm an admin.", "admin"),
}

# Follow-up questions on the same topic after a good answer (not rephrases), with answers.
FOLLOW_UPS: dict[str, tuple[tuple[str, str], ...]] = {
    "billing": (
        (
            "Will I get a receipt for the refund?",
            "Yes, a credit note is emailed to the "
            "billing contact as soon as the refund is issued [kb-1042].",
        ),
        (
            "Can I change the card the invoices are charged to?",
            "Yes: Settings > Billing > "
            "Payment method. The new card is used from the next invoice [kb-1044].",
        ),
    ),
    "login": (
        (
            "Does the same apply to the mobile app?",
            "Yes, the mobile app uses the same sign-in, so the same steps apply [kb-2011].",
        ),
        ("How long is the reset link valid?", "Reset links are valid for 30 minutes [kb-2012]."),
    ),
    "rate-limits": (
        (
            "Is the limit per key or per workspace?",
            "Per API key, so separate keys for separate jobs each get the full limit [kb-3021].",
        ),
        (
            "What does the Retry-After header contain?",
            "The number of seconds to wait before the next request [kb-3021].",
        ),
    ),
    "export": (
        ("How long is the download link valid?", "Download links are valid for 7 days [kb-4031]."),
        (
            "Does the export include deleted events?",
            "No, deleted events are excluded from exports [kb-4031].",
        ),
    ),
    "sso": (
        (
            "Do existing users keep their dashboards after the switch?",
            "Yes, members keep their content; only the way they sign in changes [kb-5053].",
        ),
        (
            "Can we keep one owner on password login?",
            "Yes, break-glass owners can keep password login when SSO is enforced [kb-5053].",
        ),
    ),
    "webhooks": (
        (
            "How many times do you retry?",
            "Eight times over 24 hours, with exponential backoff [kb-6062].",
        ),
        (
            "Is the secret the same for all endpoints?",
            "No, each endpoint has its own signing secret [kb-6061].",
        ),
    ),
    "team": (
        (
            "What happens to their dashboards?",
            "They are transferred to the admin who removed the member [kb-7071].",
        ),
        (
            "Are extra seats billed right away?",
            "Extra seats are billed pro rata from the day they are added [kb-7072].",
        ),
    ),
}

# Acknowledgements that end a good exchange (not frustration, although some shout).
THANKS_MESSAGES = (
    "Thanks, that fixed it!",
    "Great, thanks!!",
    "Perfect, thanks for the quick help.",
    "Ok got it, thanks.",
    "no worries, I'll wait for the email then",
    "No worries, that makes sense. Thank you!",
    "AMAZING, that was it!!",
)
THANKS_ANSWER = "You're welcome! If anything else comes up, just ask here. - Acme Assist"

# Frustration, some with the keywords naive detectors look for, some without.
FRUSTRATION_MESSAGES = (
    "THIS IS USELESS",
    "let me talk to a human!!",
    "Are you even reading what I write?",
    "Seriously?? Third time I'm asking the same thing.",
    "This bot is a waste of time. I want a real person.",
    "omg just answer the question",
    "I've been at this for 20 minutes and got nowhere.",
)
FRUSTRATION_ANSWER = (
    "I'm sorry this has been frustrating. I've opened {ticket} and a support engineer will "
    "reply by email within 4 business hours."
)
FRUSTRATION_NO_TICKET = (
    "I'm sorry this has been frustrating. I couldn't open a ticket right now; please write "
    "to support@acme.cloud and mention this conversation."
)

# The survey after a conversation (score user_rating, 1-5), with an optional comment.
RATING_COMMENTS: dict[int, tuple[str, ...]] = {
    1: ("Useless, had to ask three times.", "Never got an answer.", "The bot kept failing."),
    2: ("It didn't understand my question.", "Wrong information about pricing."),
    3: ("Got there in the end.", "OK but slow."),
    4: ("Helpful.", "Good answer, a bit long."),
    5: ("Quick and correct, thanks!", "Solved my problem in a minute.", "Great!!"),
}
