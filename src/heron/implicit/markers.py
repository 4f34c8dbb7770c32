"""Phrase markers: what a user's next message and an assistant's answer say about the turn.

Built-in markers are heron's own fixed patterns (Python ``re``); a project's extra markers are
user-supplied and therefore compiled with RE2 through :mod:`heron.userregex` only. Texts are
cut to :data:`MAX_TEXT` characters before matching.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import re2

from heron.userregex import UserRegex, compile_regex

MAX_TEXT = 2000
_I = re.IGNORECASE


def _fast(pattern: str, *, multiline: bool = False) -> Any:
    """A built-in marker pattern compiled with RE2: a DFA runs these long alternations
    10-60 times faster than Python's backtracking ``re``."""
    options = re2.Options()
    options.case_sensitive = False
    return re2.compile(("(?m)" if multiline else "") + pattern, options)


# An answer that does not answer: refusals, "I don't know", can't find, apologies for failing.
_REFUSAL = _fast(
    r"\b(i(?:'m| am) (?:sorry|afraid)|sorry,? (?:but )?i|unfortunately,? i|i apologi[sz]e)\b"
    r".{0,60}\b(can(?:'|no)t|cannot|can not|unable|not able|don'?t|do not|couldn'?t|won'?t"
    r"|not (?:allowed|permitted|sure))\b"
    r"|\bi (?:can(?:'|no)t|cannot|am unable to|'m unable to|am not able to|'m not able to"
    r"|do not|don'?t) (?:help|assist|answer|provide|access|find|share|give|do that|comply"
    r"|have (?:access|information|enough|any|real-time|details|that)|know|process|browse"
    r"|look (?:that )?up|see|open|retrieve|complete)"
    r"|\b(?:as an ai|as a language model)\b"
    r"|\b(?:i couldn'?t find|no (?:results|information|data) (?:found|available)"
    r"|i(?:'m| am) not (?:sure|certain|able)|something went wrong|an error occurred"
    r"|(?:please )?try again (?:later|in a (?:minute|moment|few minutes|bit))"
    r"|(?:having|have|ran into|running into) (?:some )?(?:trouble|problems|issues|difficult\w*)"
    r" (?:answering|responding|connecting|right now|at the moment|on my (?:side|end))"
    r"|beyond my (?:capabilities|scope|knowledge)"
    r"|(?:articles|docs|documentation|help[- ]?cent(?:er|re)|knowledge base|sources|results)"
    r" (?:i (?:have|can) (?:access to|see) )?(?:don'?t|do not|doesn'?t|does not) (?:cover|mention"
    r"|answer|include|say)|none of the (?:\w+ )?(?:articles|documents|docs|results|sources)"
    r" (?:answer|cover|mention)|but (?:i )?(?:couldn'?t|could not|didn'?t|did not|was unable to)"
    r" find"
    r"|outside (?:of )?(?:my|what i can|the scope))\b"
    r"|\bi(?:'m| am) (?:only )?(?:able|here) to (?:help|assist) with\b",
)
# A courtesy question or an offer that ends a complete answer is not a question left open.
_COURTESY = re.compile(
    r"\b((?:would you like|do you want|want|wish) me to|shall i|should i (?:also )?(?:go ahead"
    r"|proceed|continue)|anything else|any other questions?|something else"
    r"|further (?:questions|help)|else (?:i can|can i)"
    r"|help (?:you )?with (?:anything|something) else"
    r"|does (?:that|this) (?:help|make sense|answer)|hope (?:that|this) helps"
    r"|is there more|want (?:me )?to (?:know|add) more)\b",
    _I,
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")

_DISAGREE = _fast(
    r"\b(?:that(?:'s| is|s)|this(?:'s| is)|it(?:'s| is)|you(?:'re| are)"
    r"|(?:that|this|the|your) (?:answer|info|information|response|reply|result|number|code)"
    r" (?:is|was))"
    r" (?:\w+ )?(?:wrong|incorrect|not (?:right|correct|true|accurate|it|what i)"
    r"|false|inaccurate|outdated|made up|nonsense|a mistake|mistaken|off|backwards|untrue"
    r"|impossible|bad advice|unhelpful|not helpful|the opposite"
    r"|not how)\b"
    r"|\bthat'?s not (?:\w+ )?(?:i|what|how|the|it)\b"
    r"|\bthat'?s not (?:a|an) [^.;!?]{1,40},\s*(?:that|it)(?:'?s| is)\b"
    r"|\bnot what i (?:asked|meant|wanted|said|need)\b"
    r"|\b(?:wrong|incorrect) (?:answer|again|number|amount|date|info(?:rmation)?|result"
    r"|code|command|link|total|price|figure|year)\b"
    r"|^\s*(?:wrong|incorrect|false|nope|not quite|not really|no+)\s*[.!,]*\s*$"
    r"|^\s*(?:wrong|incorrect|nope|not quite)\b"
    r"|^\s*no+[,.!]+\s+\w"  # "no, ..." unless a polite no (checked first)
    r"|\bactually,? (?:it|the|that|this|there|you|its|it'?s|they|he|she|i (?:said|asked))\b"
    # "that didn't work", "the steps don't apply": about what the answer said, not a new
    # problem ("the amount on my invoice doesn't match the price")
    r"|(?:^\s*|\b(?:it|that|this|they|these|those|which|still|yours?|the (?:fix|steps?|link"
    r"|command|code|solution|suggestion|answer|setting|option|instructions?|workaround|tip"
    r"|script|query|snippet|formula|button|menu|page)) )(?:\w+ )?(?:didn'?t|did not|doesn'?t"
    r"|does not|won'?t|don'?t|isn'?t|is not|aren'?t)"
    r" (?:\w+ )?(?:work|working|help|fix|compile|run|solve|exist|match|add up|load|apply)\b"
    r"|\bstill (?:broken|not working|doesn'?t|does not|fails|failing|getting"
    r"|get(?:ting)? (?:the|an|a) (?:same )?error|crash\w*|fail\w*|errors?|wrong|the same)\b"
    r"|\b(?:don'?t|doesn'?t|do not|does not|no longer) \w+ (?:\w+ )?any ?more\b"
    r"|\byou (?:mixed|got) (?:it|that|them|those) (?:up|backwards)\b"
    r"|,\s*not\s+(?:the\s+|a\s+)?[\w.%$-]+(?:\s+\w+)?\s*[.!]?\s*$"
    r"|\b(?:you|u) (?:misunderstood|misread|got (?:it|that|this|me) wrong|made (?:that|it) up"
    r"|are confusing|confused|mixed up|missed|ignored|forgot)\b"
    r"|\bi (?:said|asked|told you|wrote|meant)\b.{0,40}\b(?:not|n'?t)\b"
    r"|\b(?:that|this) (?:makes no|doesn'?t make|does not make) sense\b"
    r"|\bthat (?:can'?t|cannot|couldn'?t) be right\b|\bare you sure\b"
    r"|\bthe (?:correct|right|real|actual) (?:answer|number|one|value|date|figure|amount|name)"
    r" (?:is|was)\b"
    r"|\b(?:gave|gives|giving|throws|threw|returns|returned) (?:me )?(?:an? |the )?"
    r"(?:error|exception|traceback|wrong|syntax error)\b"
    r"|\bthere(?: is|'s) no (?:such|option|button|setting|menu|field|tab|command|function)\b"
    r"|\byour \w+ (?:is|are|was|were) (?:wrong|incorrect|off|way off)\b"
    r"|\bi don'?t think (?:so|that'?s (?:right|correct|true|it))\b|\bopposite of what\b"
    r"|\b(?:says|said|say) (?:otherwise|something else|the opposite|something different)\b"
    r"|\bthat (?:was|is) (?:last year'?s|the old|an old|outdated)\b"
    r"|\bthinking of (?:something|someone) else\b|\bconfusing (?:it|this|that) with\b"
    r"|\b(?:terrible|awful|bad|horrible|dangerous|wrong|useless) (?:advice|answer|info\w*)\b"
    r"|\bi (?:asked|was asking) (?:for|about)\b"
    r"|\bnothing (?:happens|happened|changed|changes)\b|\b(?:404|page not found|dead link)\b"
    r"|\bstill (?:slow|says|shows|the same|happening|there|loading|charg\w+)\b"
    r"|\b(?:it|that|this|the \w+(?: \w+)?) should (?:be|say|read|have been)\b",
    multiline=True,
)
# A correction stated as a fact ("gravity is still 1.030", "there's no wifi button on mine",
# "the sticker says 35"): cues that a statement reports the answer failing or contradicted.
# Only statements count (a question builds on the answer), checked by contradicts().
_CONTRADICTS = _fast(
    # tried the answer, and it did not go as it said
    r"(?:^\s*|\b(?:i|we|i'?ve|we'?ve|i'?m|we'?re|have|had|already|also|then)\s+)"
    r"(?:did|done|tried|followed|used|using|replaced|reset|cleaned|changed|updated"
    r"|restarted|rebooted|installed|soaked|added|ran|calibrated|checked|adjusted|tightened"
    r"|removed|applied|fed|feeding|swapped|moved|lowered|raised|sprayed|poured|left)\b"
    r"[^.;!?]{0,60}(?:\b(?:still|same|nothing|never|worse|barely|not|no|and|but)\b|n'?t\b|,)"
    r"|\bsame (?:thing|result|problem|issue|error|noise|story|again|as before)\b"
    r"|\b(?:as|just as) \w+ as (?:before|ever)\b|\bjust as \w+\b|\bjust (?:\w+ing|\w+[^su\W]s)\b"
    r"|\b(?:was|were|is|are|came|comes|come) back\b|\bmade (?:it|my|me|everything|things"
    r"|them|the|him|her)\b|\bmine\b"
    r"|\b(?:you|u) (?:can'?t|cannot|shouldn'?t|should not|mustn'?t)\b"
    r"|\bstill\b"
    # what the answer pointed to is not there
    r"|\bthere(?:'s| is| are|'re)? no\b|\bthere (?:isn'?t|aren'?t|is not|are not) (?:a|an|any)\b"
    r"|\b(?:don'?t|do not|can'?t|cannot) (?:see|find)\b"
    r"|\b(?:isn'?t|is not|it'?s not|not) (?:there|under|listed|in (?:the|my))\b|\bno such\b"
    r"|\b(?:doesn'?t|does not|don'?t|do not) (?:have|exist|show|appear)\b"
    r"|\b(?:has|have) no\b|\bonly (?:goes|go|has|have|see|shows|lets|gives|comes|takes"
    r"|accepts)\b|\b(?:is|are) missing\b"
    # someone or something the user trusts says otherwise
    r"|\b(?:says|said|told (?:me|us)|tells (?:me|us)|states|reads|recommends|rejects)\b"
    r"|\b(?:they|people|everyone|experts|the \w+) say\b"
    r"|\baccording to\b"
    # it went wrong
    r"|\b(?:worse|came out|turned (?:to|into|out)|broke|peeled|flaked|snapped|cracked|melted"
    r"|barely|fogg\w+|streak\w*|no (?:audio|sound|effect|change|difference|luck|bites?|results?"
    r"|response|signal|power)|nothing (?:came|happened|changed|for|at all))\b"
    # doubt, politely
    r"|\bi don'?t think (?:so|that|it|this|you|the|they|he|she)\b"
    r"|\bi'?m (?:pretty |fairly |quite |almost )?(?:sure|certain) (?:it'?s|that|the|you|it)\b"
    r"|\bi (?:thought|believe|read|heard) (?:it was|that was|you|it'?s)\b"
    r"|\b(?:isn'?t|wasn'?t) it\b|\b(?:doesn'?t|does not|don'?t) (?:sound|seem|look) right\b"
    r"|\b(?:sounds?|seems?|looks?) (?:off|wrong)\b|\bnot sure (?:that'?s|this is|about that)\b"
    r"|\b(?:got|have) (?:that|it|this) wrong\b|\bactually\b"
    # a figure of its own ("for me it's 67", "that's 9 letters")
    r"|\b(?:it|that|they|mine)(?:'s| is|'re| are| was| were) (?:a |an |only |just )?\d",
)
# "X didn't foam", "it doesn't turn on": counts when about the answer (see contradicts())
_NEGATED_VERB = _fast(r"\b(?:didn'?t|did not|won'?t|doesn'?t|does not|wasn'?t|weren'?t) \w+")
# words that refer to the answer or what it proposed ("tried it", "mine", "it was back")
_POINTS_BACK = re.compile(
    r"^\s*(?:it|they|which)\b|\b(?:that|this|those|these|mine|both|them|worse)\b"
    # no subject: the thing the answer proposed ("snapped in the wrong places")
    r"|^\s*(?:\w+ed|\w+ing|did|didn'?t|doesn'?t|won'?t|left|made|ran|got|went|still|same|just"
    r"|nothing|barely)\b"
    r"|\b(?:did|done|tried|followed|used|made|applied|soaked|reset|calibrated|checked|replaced"
    r"|cleaned|opened|read|bought) (?:it|all|each|every)\b",
    _I,
)
_WORD = re.compile(r"[a-z]{4,}")
_NUMBER = re.compile(r"^[(~$£€]?\d+(?:[.,:]\d+)*[a-z%°]{0,6}[.,!;:)]*$", _I)
# a statement that looks back without contradicting ("not yet", "still deciding")
_NOT_CONTRADICTING = _fast(
    r"\b(?:haven'?t|have not|not yet|didn'?t know|did not know|no rush|no need|no problem"
    r"|no worries|still (?:deciding|thinking|considering|worth|good|valid)|will try|i'?ll try"
    r"|makes sense|got it|that worked|it worked|works now|fixed|sorted|solved|made my day)\b",
)
_QUESTION_START = re.compile(
    # "is leaded solder legal in the EU": a question without its "?" ("is still broken" is none)
    r"^\s*(?:is|are|can|could|should|would|will)\s+(?!not\b|still\b|now\b|also\b|just\b"
    r"|fine\b|ok\b|okay\b|working\b|broken\b)\w+\s+\w+"
    r"|^\s*(?:(?:so|and|but|ok(?:ay)?|hmm+|oh+|ah+|then|wait),?\s+)?(?:(?:how|what|why|when|where"
    r"|which|who|whose|any)\b|(?:can|could|should|would|is|are|will|was|were|shall|may|might"
    r"|isn'?t|aren'?t)\s+(?:i|you|it|that|this|there|they|he|she|we|my|your|the)\b"
    r"|(?:do|does|did|don'?t|doesn'?t)\s+(?:i|you|we|they|he|she)\b)",
    _I,
)
# thanks and praise ("exactly like that" is no praise)
_PLEASED = _fast(
    r"\b(?:great|thanks?|thank you|thx|ty|cheers|awesome|perfect|amazing|love|excellent"
    r"|wonderful|brilliant|nice|cool|fantastic|works|worked|helpful|appreciate\w*|glad)\b",
)
_THANKS = _fast(r"\b(?:thanks?|thank you|thx|ty|cheers|works|worked)\b")
_CLAUSE = re.compile(r"[,.;:!]+\s*")
_BUT = re.compile(r"\b(?:but|though|however|although)\b", _I)


# "no thanks", "no worries": a polite no, not a rejection of the answer
_POLITE_NO = re.compile(
    r"^\s*(?:no|nope|nah)\b[\s,.!]*(?:thanks?|thank you|worries|problem|need|that'?s (?:all|it"
    r"|fine|ok|okay|good|great|perfect|everything)|i'?m (?:good|fine|ok|all set|done)"
    r"|all good|it'?s (?:fine|ok)|rush|hurry|more|nothing|just|i was)",
    _I,
)

_LEADING_NO = re.compile(r"^\s*(?:no+|nope|nah)\b[\s,.!]*", _I)

_FRUSTRATED = _fast(
    r"\b(?:useless|stupid|idiot(?:ic)?|dumb|garbage|trash|pathetic|ridiculous|worthless"
    r"|incompetent|moron|joke of a|waste of (?:my )?time|wtf|ffs|omfg|u+gh+|for god'?s sake"
    r"|for heaven'?s sake|unbelievable|infuriating|frustrat(?:ed|ing)|annoy(?:ed|ing)"
    r"|fed up|sick of|so (?:hard|difficult) to|are you (?:even )?(?:kidding|serious"
    r"|listening|reading|paying attention)|do you (?:even )?(?:understand|listen|read)"
    r"|how many (?:more )?times (?:do|must|should|will|have|did|am) (?:i|we)"
    r"|for the (?:last|third|fifth|hundredth|\w+) time|i (?:already|just|literally just)"
    r" (?:told|said|asked|explained|gave)|give up|you(?:'re| are) (?:no help|not helping"
    r"|terrible|awful|hopeless|the worst)|worst (?:bot|assistant|service|support|ai)|hate this"
    r"|(?:bot|assistant|app|thing|chat) is (?:\w+ )?(?:hopeless|useless|terrible|awful|rubbish"
    r"|garbage|a joke)|(?:terrible|awful|horrible|dangerous) advice"
    r"|this is (?:insane|absurd|a joke|terrible|awful|hopeless|ridiculous)|damn|crap|hell\b"
    r"|bullshit|bs\b|screw this|forget it|never ?mind,? (?:i'?ll|this)"
    r"|what the (?:hell|heck|f\w*)|got nowhere|getting nowhere|going (?:round|around) in circles"
    r"|(?:second|third|fourth|fifth|\d+(?:st|nd|rd|th)) time (?:i'?m|i am|i'?ve|i have) (?:ask"
    r"|explain|tell|sa|writ)\w*|just answer (?:the|my) (?:damn |simple )?question)\b"
    r"|\bseriously\?|\bagain\?!"
    r"|\b(?:talk|speak|chat|connect me|transfer me|put me through) (?:to|with) (?:a |an |some |your"
    r" )?(?:real |actual |live )?(?:human|person|agent|someone|somebody|representative|manager"
    r"|supervisor|operator|support|people)\b"
    r"|\b(?:get|give|want|need) (?:me )?(?:a |an )?(?:real |actual |live )?(?:human|person"
    r"|representative|manager|supervisor|operator)\b"
    r"|\bhuman,? please\b|^\s*(?:agent|human|representative|operator)[!. ]*$",
    multiline=True,
)
_POSITIVE = _fast(
    r"\b(?:great|thanks?|thank you|thx|awesome|perfect|amazing|love|excellent|wonderful"
    r"|brilliant|nice|cool|fantastic|yay|wow|works|worked|helpful|appreciate|happy|glad"
    r"|exactly|yes|yess+|finally works|nailed it|beautiful|superb|genius|fab|sweet"
    r"|congrat\w*|hooray|woo+|lol|haha)\b",
)
_NEGATIVE = _fast(
    r"\b(?:not|no|never|nothing|why|wrong|broken|still|again|error|fail\w*|doesn'?t|don'?t"
    r"|didn'?t|won'?t|can'?t|isn'?t|where|what)\b",
)
_REPEATED_MARKS = re.compile(r"[?!]*\?[?!]*!|![?!]*\?|\?{2,}|!{3,}")
_LETTERS = re.compile(r"[A-Za-z]")
_UPPER_WORD = re.compile(r"\b[A-Z]{2,}\b")

# A message that closes the conversation well.
_CLOSING = _fast(
    r"\b(?:thanks?|thank you|thx|ty|cheers|appreciated?|bye|goodbye|good night"
    r"|that'?s (?:all|it|everything|perfect|great|helpful)|got it|perfect|great|awesome"
    r"|all set|makes sense|works now|that worked|solved|sorted)\b",
)
# A new question that builds on the answer rather than asking again.
_FOLLOW_UP = re.compile(
    r"^\s*(?:and|also|ok(?:ay)?|cool|great|thanks?|thank you|nice|perfect|got it|next|now"
    r"|then|what about|how about|what if|one more|another|follow[- ]?up|besides|plus"
    r"|in that case|so then|after that|alright|right)\b",
    _I,
)
# words that point back at the answer: a follow-up builds on it, a rephrase stands alone
_ANAPHORA = _fast(r"\b(?:it|that|them|those|these|they|then|there|afterwards|instead)\b")
_REPHRASE_HINT = _fast(
    r"\b(?:i mean|i meant|in other words|let me (?:rephrase|put it|try again|be clearer|clarify)"
    r"|to (?:put it|say it) (?:another|differently)|what i(?:'m| am) (?:asking|trying to"
    r" (?:ask|say|find))|my question (?:is|was)|i(?:'m| am) asking|again:|rephras\w+"
    r"|to be (?:clear|more specific)|more (?:simply|specifically)|simpler terms)\b",
)


def cut(text: str) -> str:
    return text[:MAX_TEXT]


def is_refusal(answer: str) -> bool:
    return _REFUSAL.search(answer[:600]) is not None


def open_question(answer: str) -> bool:
    """The answer ends by asking the user something (not "anything else?")."""
    tail = answer.strip()[-400:]
    if not tail.endswith("?"):
        return False
    last = _SENTENCE_END.split(tail)[-1]
    return _COURTESY.search(last) is None


def disagrees(message: str, answers_question: bool = False) -> Any:
    """The words rejecting the answer; after a question from the assistant a leading "no"
    answers it ("no, none") and only the rest of the message counts."""
    if _POLITE_NO.search(message):
        return None
    if answers_question:
        message = _LEADING_NO.sub("", message, count=1)
    return _DISAGREE.search(message)


def contradicts(message: str, answer: str) -> Any:
    """The words of a statement reporting that the answer failed or is contradicted ("did
    that, it skips exactly the same", "the label says 30 minutes"), or None. Questions,
    thanks and statements looking back without contradicting ("not yet") do not count, nor
    does a statement that neither points back nor names something from the answer: that is
    a new problem ("the amount on my invoice doesn't match the price")."""
    text = message.strip()
    if not text or is_question(text):
        return None
    if _NOT_CONTRADICTING.search(text):
        return None
    if thanks_only(text):
        return None  # "thanks, still deciding": a thank-you, unless "thanks, but ..."
    m = _CONTRADICTS.search(text) or _NEGATED_VERB.search(text)
    if m is None or not (_POINTS_BACK.search(text) or shares_words(text, answer)):
        return None  # not about the answer: a new problem ("our server rejects your webhooks")
    return m


def is_question(text: str) -> bool:
    """A question, with or without its ``?`` ("is leaded solder legal in the EU")."""
    return "?" in text or any(_QUESTION_START.search(c) for c in _CLAUSE.split(text))


def contradiction_cue(text: str) -> bool:
    """A cue that the answer failed or is contradicted, whether or not about the answer."""
    return _CONTRADICTS.search(text) is not None or _NEGATED_VERB.search(text) is not None


def refers_back(text: str) -> bool:
    """Words that refer to the answer or what it proposed ("tried it", "mine")."""
    return _POINTS_BACK.search(text) is not None


def thanks_only(text: str) -> bool:
    """Thanks or praise, without a "but" ("thanks, but ..." may still contradict)."""
    return _PLEASED.search(text) is not None and _BUT.search(text) is None


def reports_success(text: str) -> bool:
    """A statement that the answer worked or pleased ("prints fine now!", "thanks, sorted")."""
    return not is_question(text) and (
        _NOT_CONTRADICTING.search(text) is not None or _THANKS.search(text) is not None
    )


def not_contradicting(text: str) -> bool:
    """Looks back without contradicting: "not yet", "works now", "will try"."""
    return _NOT_CONTRADICTING.search(text) is not None


def shares_words(text: str, answer: str) -> bool:
    """The message names something the answer said (a word, a number)."""
    said = {w[:5] for w in _WORD.findall(answer.lower())}
    if any(w[:5] in said for w in _WORD.findall(text.lower()) if w not in _COMMON):
        return True
    return _has_number(text) and _has_number(answer)


def _has_number(text: str) -> bool:
    """A quantity ("30", "1.030", "10s", "33 metres"), not part of an id or an address."""
    return any(_NUMBER.match(token) for token in text.split())


# words too common to show that a message is about the answer
_COMMON = frozenset({
    "that", "this", "with", "from", "have", "what", "your", "they", "them", "then", "there",
    "their", "when", "will", "would", "could", "should", "does", "doesn", "didn", "just", "like",
    "about", "into", "only", "also", "some", "more", "than", "been", "were", "which", "make",
    "made", "work", "works", "working", "still", "same", "says", "said", "even", "after",
    "before", "again", "never", "because"
})  # fmt: skip


def frustration(message: str) -> str | None:
    """The evidence of frustration in a message ("insult", "shouting"...), or None."""
    m = _FRUSTRATED.search(message)
    if m is not None:
        return f'"{m.group(0)}"'
    positive = _POSITIVE.search(message) is not None
    if positive:
        return None
    negative = _NEGATIVE.search(message) is not None
    if len(message) <= 400:
        letters = _LETTERS.findall(message)
        upper = sum(1 for c in letters if c.isupper())
        words = _UPPER_WORD.findall(message)
        if len(letters) >= 10 and upper >= 0.7 * len(letters) and len(words) >= 3:
            return "shouting (capitals)"
    if _REPEATED_MARKS.search(message) and (negative or not letters_in(message)):
        return "repeated ?! marks"
    return None


def letters_in(message: str) -> bool:
    return _LETTERS.search(message) is not None


def closes_well(message: str) -> bool:
    return _CLOSING.search(message) is not None


def follows_up(message: str) -> bool:
    return _FOLLOW_UP.search(message) is not None


def points_back(message: str) -> bool:
    return _ANAPHORA.search(message) is not None


def rephrase_hint(message: str) -> bool:
    return _REPHRASE_HINT.search(message) is not None


@lru_cache(maxsize=128)
def compiled_extra(
    key: tuple[tuple[str, tuple[str, ...]], ...],
) -> dict[str, tuple[UserRegex, ...]]:
    """A project's extra markers, compiled once (RE2; a bad pattern raises a 400 error)."""
    return {kind: tuple(compile_regex(p) for p in patterns) for kind, patterns in key}


def extra_match(extra: dict[str, tuple[UserRegex, ...]], kind: str, text: str) -> str | None:
    for regex in extra.get(kind, ()):
        if regex.search(text):
            return regex.pattern
    return None
